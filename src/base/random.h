// Randomness from the OS CSPRNG (getrandom), for ids and secrets.
// Simulation code takes a seeded engine instead; it never calls these.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace meshkv {

uint64_t SecureRandomU64();
// `n` random bytes. Aborts if the kernel cannot supply them (no safe fallback).
std::string SecureRandomBytes(size_t n);

}  // namespace meshkv
