package control

import (
	"errors"
	"fmt"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Groups names the groups admitted on a control socket besides root (and
// the daemon's own user). Either may be a group name or a numeric gid.
type Groups struct {
	// Read is control_group: its members may run the read-only commands
	// (status, conflicts, verify, changes). The socket and its directory belong to
	// it, so members of Admin need to be in it too to reach the socket.
	Read string
	// Admin is control_admin_group: its members may also run the commands
	// that change replication (barrier, pause, resume, snapshot, promote).
	// When Read is empty, the socket belongs to this group.
	Admin string
}

// level is what a command may do.
type level int

const (
	readOnly level = iota // status, conflicts, verify, changes
	mutating              // barrier, pause, resume, promote, anything not listed
)

// access is the policy of one control socket: root and the daemon's own
// user may do anything; members of the admins group may run every
// command, members of the readers group the read-only ones.
type access struct {
	self    uint32 // the daemon's effective uid
	readers group
	admins  group

	lookup func(uid uint32) ([]uint32, error) // the user's groups from the user database
	now    func() time.Time

	mu    sync.Mutex
	cache map[uint32]cachedGroups
}

// group is a group that the policy admits; gid < 0 means none.
type group struct {
	name string
	gid  int
	key  string // the config key that names it
}

var noGroup = group{gid: -1}

type cachedGroups struct {
	gids []uint32
	err  error
	at   time.Time
}

// groupCacheTTL is how long a user's group list from the user database is
// reused: a user added to or removed from the group is seen within this
// time.
const groupCacheTTL = 10 * time.Second

func newAccess(readers, admins group, self uint32) *access {
	return &access{self: self, readers: readers, admins: admins, lookup: userGroups, now: time.Now,
		cache: make(map[uint32]cachedGroups)}
}

// resolveGroup turns a group name or numeric gid into a group; "" is none.
// A number that is not a known group's name is taken as a gid, so a group
// need not be in the local group database.
func resolveGroup(key, name string) (group, error) {
	if name == "" {
		return noGroup, nil
	}
	g, err := user.LookupGroup(name)
	if err == nil {
		gid, err := strconv.Atoi(g.Gid)
		if err != nil {
			return noGroup, fmt.Errorf("%s %q: gid %q: %w", key, name, g.Gid, err)
		}
		return group{name: name, gid: gid, key: key}, nil
	}
	if gid, nerr := strconv.ParseUint(name, 10, 31); nerr == nil {
		return group{name: name, gid: int(gid), key: key}, nil
	}
	var unknown user.UnknownGroupError
	if errors.As(err, &unknown) {
		return noGroup, fmt.Errorf("%s %q: no such group: create it (groupadd %s) or give a numeric gid", key, name, name)
	}
	return noGroup, fmt.Errorf("%s %q: %w", key, name, err)
}

// userGroups returns the groups of uid in the user database (primary and
// supplementary).
func userGroups(uid uint32) ([]uint32, error) {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return nil, err
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, err
	}
	out := make([]uint32, 0, len(ids))
	for _, id := range ids {
		if n, err := strconv.ParseUint(id, 10, 32); err == nil {
			out = append(out, uint32(n))
		}
	}
	return out, nil
}

// errNoCaller: the connection did not come through the control Listener,
// so who is calling is unknown.
var errNoCaller = errors.New("cannot identify the caller: control connections must come through the control socket")

// readOnlyNames lists the read-only commands for refusal messages.
const readOnlyNames = "status, conflicts, verify and changes"

// allow decides whether c may run a command of level lv. The error names
// the caller, the command, and who is allowed to run it.
func (a *access) allow(c Caller, lv level, command string) error {
	if c.UID == 0 || c.UID == a.self {
		return nil
	}
	if a.admins.gid >= 0 && a.member(c, uint32(a.admins.gid)) {
		return nil
	}
	isReader := a.readers.gid >= 0 && a.member(c, uint32(a.readers.gid))
	if lv == readOnly && isReader {
		return nil
	}
	who := "root"
	if a.self != 0 {
		who = fmt.Sprintf("root and uid %d (the daemon's user)", a.self)
	}
	var allowed string
	switch {
	case lv == readOnly && a.readers.gid >= 0 && a.admins.gid >= 0:
		allowed = fmt.Sprintf("%s, members of %s and of %s", who, a.readers, a.admins)
	case lv == readOnly && a.readers.gid >= 0:
		allowed = fmt.Sprintf("%s and members of %s", who, a.readers)
	case a.admins.gid >= 0:
		allowed = fmt.Sprintf("%s and members of %s", who, a.admins)
	case a.readers.gid >= 0:
		allowed = who + " only (set control_admin_group in the config to admit a group)"
	default:
		allowed = who + " only (set control_group and control_admin_group in the config to admit groups)"
	}
	msg := fmt.Sprintf("uid %d (pid %d) may not run %s: this control socket allows %s", c.UID, c.PID, command, allowed)
	switch {
	case lv == mutating && isReader:
		msg += fmt.Sprintf("; as a member of %s it may only run %s", a.readers, readOnlyNames)
	case lv == mutating && a.readers.gid >= 0:
		msg += fmt.Sprintf("; members of %s may run %s", a.readers, readOnlyNames)
	}
	return errors.New(msg)
}

// String names the group and its config key for messages.
func (g group) String() string {
	if _, err := strconv.Atoi(g.name); err == nil {
		return fmt.Sprintf("gid %s (%s)", g.name, g.key)
	}
	return fmt.Sprintf("group %q (%s)", g.name, g.key)
}

// member reports whether c is in gid: the process's group and
// supplementary groups as the kernel reported them, or, when the kernel
// could not report the supplementary groups, the user's groups in the user
// database (looked up at most every groupCacheTTL).
func (a *access) member(c Caller, gid uint32) bool {
	if c.GID == gid {
		return true
	}
	if c.Groups != nil {
		return slices.Contains(c.Groups, gid)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	cg, ok := a.cache[c.UID]
	if !ok || a.now().Sub(cg.at) > groupCacheTTL {
		gids, err := a.lookup(c.UID)
		cg = cachedGroups{gids: gids, err: err, at: a.now()}
		if len(a.cache) > 1024 {
			clear(a.cache)
		}
		a.cache[c.UID] = cg
	}
	return slices.Contains(cg.gids, gid)
}

// describe says who may do what, for the daemon's log.
func (a *access) describe() string {
	var parts []string
	if a.readers.gid >= 0 {
		parts = append(parts, fmt.Sprintf("%s may run %s", a.readers, readOnlyNames))
	}
	if a.admins.gid >= 0 {
		parts = append(parts, fmt.Sprintf("%s may run every command", a.admins))
	}
	if len(parts) == 0 {
		return "root only"
	}
	return "root; " + strings.Join(parts, "; ")
}
