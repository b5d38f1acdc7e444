/* The core's assertions stay on in every build: a broken protocol invariant must stop the
 * node rather than let it answer wrongly (docs/design.md "Rules of the code"). Include this
 * instead of <assert.h> in core sources. */
#ifndef BALLOT_CORE_CHECK_H
#define BALLOT_CORE_CHECK_H

#undef NDEBUG
#include <assert.h>

#endif
