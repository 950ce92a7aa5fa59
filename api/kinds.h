#pragma once

// Every Lifeboat kind, for code that handles several (the CLI, tests, the controller).
#include "api/backup_policy.h"
#include "api/common_types.h"
#include "api/condition.h"
#include "api/failover.h"
#include "api/object_meta.h"
#include "api/recovery_plan.h"
#include "api/recovery_point.h"
#include "api/replication_policy.h"
#include "api/restore.h"
#include "api/site.h"
#include "api/snapshot.h"
#include "api/vault.h"
