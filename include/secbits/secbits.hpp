#pragma once

// The umbrella header: every public C++ header of secbits, nothing else.
#include <secbits/error.hpp>
#include <secbits/protection.hpp>
#include <secbits/secbytes.hpp>
#include <secbits/secmem.hpp>
