// The whole public API of the filelock library. See lock.hpp first.
#pragma once

#include "filelock/error.hpp"
#include "filelock/inspect.hpp"
#include "filelock/lock.hpp"
#include "filelock/version.hpp"
#include "filelock/wakeup.hpp"
