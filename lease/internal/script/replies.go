package script

// Reply codes are int64, as the client decodes a script's integer reply.

// Replies of acquire.lua: the first element of its reply.
const (
	AcquireTaken   int64 = 0 // {0, pttl}: another owner holds the lock
	AcquireHeld    int64 = 1 // {1, fence}: the caller holds the lock here now
	AcquireGuarded int64 = 2 // {2, ms}: the node is in its restart guard for ms more
)

// RaiseFenceOK is raise_fence.lua's reply when the lock is the caller's
// and the counter reached the token.
const RaiseFenceOK int64 = 1

// Replies of scope.lua: the first element of its reply.
const (
	ScopeTaken      int64 = 0 // {0, pttl}: another holder's lock, the scope never held this node
	ScopeHeld       int64 = 1 // {1, counter, fresh}: the scope holds the lock here now
	ScopeGuarded    int64 = 2 // {2, ms}: the node is in its restart guard for ms more
	ScopeLost       int64 = 3 // {3, 0}: the scope lost this node
	ScopeNoRecord   int64 = 4 // {4, 0}: no record of the scope and not its lock
	ScopeReleased   int64 = 5 // {5, 0}: the scope was released here
	ScopeSuperseded int64 = 6 // {6, 0}: a later attempt took a token here, or the counter is past the token
)

// Replies of progress_check.lua.
const (
	CheckRefused int64 = 0 // the counter is past the token: fenced out here
	CheckOK      int64 = 1 // the scope holds the lock and the counter is not past the token
	CheckExpired int64 = 2 // not the scope's lock, the counter unmoved: not a proof
)

// Replies of progress_commit.lua.
const (
	CommitStored   int64 = 1 // this save, or a newer one, is stored
	CommitReleased int64 = 5 // the holder released the scope here
)

// Replies of extend.lua.
const (
	ExtendRefused  int64 = 0 // another owner's lock, or gone from a node that kept its data
	ExtendOK       int64 = 1 // the TTL is reset
	ExtendHealable int64 = 2 // gone from a node that lost its data, nobody acquired since
)

// Replies of progress_load.lua: the first element of its reply.
const (
	LoadInScope  int64 = 1 // {1, value}: the node keeps the scope's record
	LoadReleased int64 = 5 // {5, ""}: the holder released the scope here
)
