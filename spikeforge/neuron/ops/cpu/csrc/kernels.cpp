// One unit of kernel instantiations: input dtype SF_IT (state dtype SF_ST) for the neuron
// kinds SF_KINDS, named pick_<SF_NAME>_<SF_GROUP>. build.py compiles this file six times
// with -D flags (3 dtypes x 2 kind groups) so that the compiler jobs are about the same size.
#include "neuron.h"

#define SF_PASTE_(a, b) pick_##a##_##b
#define SF_PASTE(a, b) SF_PASTE_(a, b)

namespace sf {
RangeFn SF_PASTE(SF_NAME, SF_GROUP)(const Args& a, bool backward) {
  return backward ? pick_kinds<true, SF_IT, SF_ST, SF_KINDS>(a) : pick_kinds<false, SF_IT, SF_ST, SF_KINDS>(a);
}
}  // namespace sf
