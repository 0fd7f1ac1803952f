#pragma once

// The umbrella header: every public C++ header of secbits, nothing else.
#include <secbits/allocator.hpp>
#include <secbits/error.hpp>
#include <secbits/memory_resource.hpp>
#include <secbits/pool.hpp>
#include <secbits/protection.hpp>
#include <secbits/scope.hpp>
#include <secbits/secbytes.hpp>
#include <secbits/secmem.hpp>
#include <secbits/secure_new.hpp>
