# The zone file parser's fuzz target (src/frontend/dns/wire/zone_file.h).
# Included from tests/fuzz/CMakeLists.txt, before the fuzz_all target.
meshkv_fuzz_target(fuzz_dns_zone_file LIBS meshkv_dns_wire)
