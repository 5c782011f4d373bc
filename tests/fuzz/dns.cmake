# DNS wire-format fuzz targets (src/frontend/dns/wire), included from
# tests/fuzz/CMakeLists.txt after meshkv_fuzz_target is defined.
meshkv_fuzz_target(fuzz_dns_message LIBS meshkv_dns_wire)
meshkv_fuzz_target(fuzz_dns_rdata_text LIBS meshkv_dns_wire)
# The responder end to end over an in-memory zone (links storage and records).
meshkv_fuzz_target(fuzz_dns_responder LIBS meshkv_dns_query)
