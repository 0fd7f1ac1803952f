#include "pool/purge.hpp"

#include "pool/hardening.hpp"
#include "pool/large.hpp"
#include "pool/purge_regions.hpp"
#include "pool/region.hpp"

namespace secbits::pool {

void purge() noexcept {
  // Before the first zero lands: a thread freeing a block meanwhile must
  // not take its wiped canary for an overflow.
  note_blocks_purged();
  wipe_open_slab_pages();
  large_wipe_live_blocks();
  wipe_remembered_regions();
}

}  // namespace secbits::pool
