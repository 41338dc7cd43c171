package health

import (
	"fmt"
	"time"

	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/report"
)

// State is what a node tells its load balancer.
type State int

// States, in HAProxy's agent-check words.
const (
	Up State = iota
	Drain
	Down
)

func (s State) String() string {
	switch s {
	case Up:
		return "up"
	case Drain:
		return "drain"
	}
	return "down"
}

// Thresholds say how far a secondary may fall behind and still serve.
type Thresholds struct {
	MaxLag          time.Duration // age of the oldest change not yet applied
	MaxDisconnected time.Duration // time without a session with the primary
}

// Defaults.
const (
	DefaultMaxLag          = 10 * time.Second
	DefaultMaxDisconnected = 30 * time.Second
)

// Verdict is a State with the one-line reason for it.
type Verdict struct {
	State  State
	Reason string
}

// Evaluate judges a node's report at time now.
func Evaluate(st report.Node, th Thresholds, now time.Time) Verdict {
	for _, f := range st.Folders {
		if w := f.ConflictStoreFull; w != nil {
			return Verdict{Down, fmt.Sprintf("folder %s waits at %q: no room in the conflict store %q to keep the local version; prune it (ncsync conflicts prune) or raise conflicts.max_bytes/max_files",
				f.ID, w.Path, w.Store)}
		}
	}
	for _, f := range st.Folders {
		if f.LastError != "" {
			what := "fails"
			if st.Role == pki.RoleSecondary {
				what = "refuses entries"
			}
			return Verdict{Down, fmt.Sprintf("folder %s %s: %s", f.ID, what, f.LastError)}
		}
	}
	if st.Role == pki.RolePrimary {
		return Verdict{Up, fmt.Sprintf("primary, %d folders", len(st.Folders))}
	}
	var pr *report.Peer
	for i := range st.Peers {
		if st.Peers[i].Role == pki.RolePrimary {
			pr = &st.Peers[i]
		}
	}
	if pr == nil {
		return Verdict{Down, "no primary configured"}
	}
	if !pr.Connected {
		since := pr.DisconnectedSince
		if since.IsZero() || since.Before(st.Started) {
			since = st.Started
		}
		if d := now.Sub(since); d > th.MaxDisconnected {
			reason := fmt.Sprintf("disconnected from the primary for %s", d.Round(time.Second))
			if pr.LastError != "" {
				reason += ": " + pr.LastError
			}
			return Verdict{Down, reason}
		}
	}
	// A pause holds the node behind the primary's head on purpose: it is
	// drained, not down, however far the primary has moved since. Only a
	// session tells it that it is paused, so the rules above come first.
	if st.Paused {
		return Verdict{Drain, "paused for a snapshot: holds an earlier consistent state"}
	}
	for _, f := range pr.Folders {
		if f.CatchingUp {
			if f.CatchUpTo == 0 {
				return Verdict{Down, "catching up: not yet in a session with the primary since start"}
			}
			return Verdict{Down, fmt.Sprintf("catching up: folder %s at %d of %d", f.Folder, f.AckedSeq, f.CatchUpTo)}
		}
		if f.Lag > th.MaxLag {
			return Verdict{Down, fmt.Sprintf("folder %s lags %s behind the primary", f.Folder, f.Lag.Round(time.Second))}
		}
	}
	if !pr.Connected {
		return Verdict{Up, "reconnecting to the primary"}
	}
	return Verdict{Up, "in step with the primary"}
}
