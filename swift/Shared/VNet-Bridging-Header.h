// The Go core's C API, for Swift: both targets link bin/darwin/libvnet.a
// (make bridge-darwin). See bridge/vnet.h for the contract.
#include "vnet.h"
