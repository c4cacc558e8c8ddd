// Fuzz target: config::load_text, the YAML configuration reader. Input: the file's text.
// A bad file is refused with ConfigError by design, and with nothing else: any other exception escaping
// (a yaml-cpp one, std::out_of_range, ...) would end `gatehouse serve` or `check-config` with a
// terminate instead of the list of problems, so libFuzzer reports it as a crash.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config.hpp"

// The secrets a file may take from the environment (README), so configurations with an HA token and
// providers named main or idp can load all the way instead of stopping at the missing secret.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ::setenv("GATEHOUSE_HA_TOKEN", "fuzz-ha-token", 1);
  ::setenv("GATEHOUSE_PROVIDER_MAIN_CLIENT_SECRET", "fuzz-client-secret", 1);
  ::setenv("GATEHOUSE_PROVIDER_IDP_CLIENT_SECRET", "fuzz-client-secret", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto loaded = gatehouse::config::load_text(text, "fuzz.yaml");
    (void)loaded;
  } catch (const gatehouse::config::ConfigError& error) {
    if (error.issues().empty()) __builtin_trap(); // a refusal must say why
  }
  return 0;
}
