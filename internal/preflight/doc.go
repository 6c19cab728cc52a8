// Package preflight says whether a sync or a restore can work, before a
// byte moves: it probes the live servers involved (and, for a restore,
// reads the input) and returns one Check per question asked.
//
// # Checks
//
// Sync (a live source into a live target) runs, in this order:
//
//	versions       the source's RDB version against what the target loads
//	target role    the target is a master (a replica is read-only)
//	target memory  the source's data set (used_memory_dataset, summed over
//	               its masters) against the target's maxmemory
//	modules        the modules the source uses against the target's
//	source ACL     the source's user may run PSYNC, REPLCONF, PING, INFO
//	               (and COMMAND, CLUSTER SLOTS when needed)
//	target ACL     the target's user may run what the sync sends
//	target slots   a cluster target serves all 16384 slots
//	source slots   a cluster source serves all 16384 slots
//	databases      the source's keys per database, against a cluster
//	               target's database 0
//	biggest key    the largest MEMORY USAGE among up to 100000 source keys
//	               per database, against the target's proto-max-bulk-len
//	existing keys  how many of up to 1000 source keys exist on the target
//
// Restore (an RDB dump, an AOF file or directory, or redkit JSON, into
// a live target) runs:
//
//	input          what the input is (RDB version, keys, size), or why it
//	               cannot be read
//	versions       an RDB dump's version against what the target loads
//	expired keys   keys whose expiry has passed, left out
//	field expiries hashes with field expiries (or AOF commands setting
//	               them) against a target without HPEXPIREAT
//	target role    as for a sync
//	target memory  an RDB dump's size, a lower bound of what it needs
//	modules        the module types of the dump against the target's
//	target ACL     the target's user may run what the restore sends
//	target slots   a cluster target serves all 16384 slots
//	databases      (RDB and JSON) the keys restored per database
//	biggest key    (RDB) the largest serialized value against
//	               proto-max-bulk-len
//	existing keys  (RDB and JSON) how many of the first 1000 keys restored
//	               exist on the target, under the conflict policy
//
// Checks that do not apply (a standalone target's slots, an input without
// expired keys or modules, the size of an AOF) are left out of the Result
// rather than reported.
//
// # Statuses
//
// Each Check has a Status: OK (the step will work), Warn (it will work
// differently or could not be fully checked: commands instead of
// RESTORE, a probe the server refused) or Fail (the sync or restore would
// not work as it stands: Result.Failed counts them). A Check's Detail
// says what was found, in one line; its Advice, when set, names the
// remedy that a caller offering options (such as the redkit command)
// spells out with its own option names.
//
// # What it writes
//
// Nothing, but for ProbeKey ("redkit:check:probe"). When the user may
// not run ACL DRYRUN, each command is probed in a harmless form, since a
// server checks ACLs before running anything: SET or RESTORE of ProbeKey
// (a RESTORE payload the server rejects), a PUBLISH on the channel of
// that name, a FLUSHALL with an option the server rejects. ProbeKey is
// deleted at the end. A sync's samples of the source (SCAN) skip the keys
// under sync.CheckpointKeyPrefix, redkit's own.
//
// # Errors
//
// A probe that fails, a command refused, an input that cannot be read are
// findings: they become Warn or Fail checks, never errors. Sync and
// Restore return an error only for arguments they cannot work with (a
// Side without its ServerInfo or connection options). A cancelled context
// makes the probes fail, and so shows in the checks; the caller tells an
// interruption by its context. Details never hold a URL's password.
package preflight
