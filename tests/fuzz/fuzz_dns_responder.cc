// Fuzzes the DNS responder end to end: arbitrary bytes as a query over UDP
// and TCP, against a zone with CNAME chains, a delegation, glue and a TXT set
// large enough to truncate. Properties: never crashes; every response fits
// its transport and parses back; a response echoes the query's id; the
// UDP path with a reused buffer (RespondUdp) answers as Respond does.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/hlc.h"
#include "base/metrics.h"
#include "frontend/dns/query/responder.h"
#include "frontend/dns/query/synthetic_records.h"
#include "frontend/dns/wire/message.h"
#include "fuzz_check.h"
#include "records/record_service.h"
#include "replication/kv_service.h"
#include "storage/store.h"

namespace {

using namespace meshkv;
using namespace meshkv::dns;

std::vector<NamespaceSpec> MemoryNamespaces() {
  std::vector<NamespaceSpec> namespaces = BuiltinNamespaces();
  for (NamespaceSpec& ns : namespaces) ns.storage = StorageKind::kMemory;
  return namespaces;
}

struct World {
  World()
      : store(NewMemoryStore(MemoryNamespaces())),
        hlc(clock, 500),
        kv(*store, nullptr, hlc, clock, NodeId(0x1111), MemoryNamespaces()),
        records(kv, {*Name::FromText("example.test")}, 300),
        metrics(registry) {
    ZoneViewOptions zone_options;
    zone_options.nameserver_address = *IpAddress::Parse("127.0.0.1");
    view = std::make_unique<ZoneView>(records, nullptr, zone_options);
    ResponderOptions options;
    options.transfer_allow = {*IpAddress::Parse("127.0.0.1")};
    responder = std::make_unique<Responder>(*view, metrics, options);
    Add("example.test", "MX", "10 mail.example.test.");
    Add("mail.example.test", "A", "192.0.2.25");
    Add("mail.example.test", "AAAA", "2001:db8::25");
    Add("www.example.test", "CNAME", "web.example.test.");
    Add("web.example.test", "A", "192.0.2.80");
    Add("loop1.example.test", "CNAME", "loop2.example.test.");
    Add("loop2.example.test", "CNAME", "loop1.example.test.");
    Add("a.b.c.example.test", "TXT", "\"deep\" \"name\"");
    Add("_http._tcp.example.test", "SRV", "0 0 80 web.example.test.");
    Add("sub.example.test", "NS", "ns.sub.example.test.");
    Add("ns.sub.example.test", "A", "192.0.2.53");
    Add("example.test", "CAA", "0 issue \"ca.example\"");
    for (int i = 0; i < 30; ++i) {
      Add("big.example.test", "TXT", std::string(80, 'x') + std::to_string(i));
    }
  }
  void Add(std::string_view name, std::string_view type, std::string_view value) {
    auto record = records.MakeRecord(*Name::FromText(name), type, value, std::nullopt);
    FUZZ_CHECK(record.ok());
    records.Add(*record, [](Status s) { FUZZ_CHECK(s.ok()); });
  }

  FakeClock clock;
  std::unique_ptr<Store> store;
  Hlc hlc;
  KvService kv;
  records::RecordService records;
  MetricsRegistry registry;
  DnsMetrics metrics;
  std::unique_ptr<ZoneView> view;
  std::unique_ptr<Responder> responder;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();
  const std::string_view query(reinterpret_cast<const char*>(data), size);
  const IpAddress clients[] = {*IpAddress::Parse("127.0.0.1"), *IpAddress::Parse("192.0.2.9")};
  for (Transport transport : {Transport::kUdp, Transport::kTcp}) {
    const IpAddress& client = clients[size % 2];
    for (const std::string& response : world->responder->Respond(query, transport, client)) {
      FUZZ_CHECK(response.size() <= 65535);
      if (transport == Transport::kUdp) FUZZ_CHECK(response.size() <= 4096);
      FUZZ_CHECK(response.size() >= kHeaderSize);
      auto parsed = ParseMessage(response);
      FUZZ_CHECK(parsed.ok());
      FUZZ_CHECK(parsed->header.qr);
      FUZZ_CHECK(size >= 2 && parsed->header.id == ((data[0] << 8) | data[1]));
    }
  }
  // The server's UDP path (a reused buffer) answers exactly as Respond does.
  static std::string buffer;
  const IpAddress& client = clients[size % 2];
  const std::vector<std::string> expected =
      world->responder->Respond(query, Transport::kUdp, client);
  const bool answered = world->responder->RespondUdp(query, client, buffer);
  FUZZ_CHECK(answered == !expected.empty());
  FUZZ_CHECK(!answered || (expected.size() == 1 && buffer == expected.front()));
  return 0;
}
