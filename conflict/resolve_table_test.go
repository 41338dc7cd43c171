package conflict

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// change is what one side did to a path after the divergence point.
type change string

// The changes, in the column (and row) order of resolveGrid.
var changes = []change{"U", "C", "K", "M", "D", "FD", "DF", "FS"}

var changeNames = map[change]string{
	"U": "unchanged", "C": "create file", "K": "create dir", "M": "modify",
	"D": "delete", "FD": "file→dir", "DF": "dir→file", "FS": "file→symlink",
}

// bases on which each change is possible. Modify means new content for a
// file, a chmod for a directory, a new target for a symlink.
var changeBases = map[change][]Kind{
	"U": {Absent, File, Dir, Symlink}, "C": {Absent}, "K": {Absent},
	"M": {File, Dir, Symlink}, "D": {File, Dir, Symlink},
	"FD": {File}, "DF": {Dir}, "FS": {File},
}

var baseStates = map[Kind]State{
	Absent:  {},
	File:    {Kind: File, Content: [32]byte{0xba}, Size: 10, Mode: 0o644, MtimeNs: 1},
	Dir:     {Kind: Dir, Mode: 0o755, MtimeNs: 1},
	Symlink: {Kind: Symlink, Target: "base", Mode: 0o777, MtimeNs: 1},
}

// after returns the state side (1 local, 2 remote) leaves after c on base:
// the two sides never make the same change by accident.
func after(c change, base State, side int) State {
	mt := int64(10 * side)
	file := State{Kind: File, Content: [32]byte{byte(side)}, Size: 20, Mode: 0o644, MtimeNs: mt}
	dir := State{Kind: Dir, Mode: 0o755, MtimeNs: mt}
	link := State{Kind: Symlink, Target: fmt.Sprint("t", side), Mode: 0o777, MtimeNs: mt}
	switch c {
	case "U":
		return base
	case "C", "DF":
		return file
	case "K", "FD":
		return dir
	case "FS":
		return link
	case "D":
		return State{}
	case "M":
		switch base.Kind {
		case File:
			return file
		case Dir:
			return State{Kind: Dir, Mode: 0o700, MtimeNs: mt}
		}
		return link
	}
	panic("unknown change " + c)
}

// resolveGrid holds the expected decision for every base × local change ×
// remote change, local being the old primary (epoch 1) rejoining the new
// primary (epoch 2): rows are local changes, columns remote changes, both
// in the order of changes. The remote always wins the tree when the sides
// differ; the cell says what becomes of the local version:
//
//	=     nothing to do (same version on both sides)
//	anc   local is an ancestor of remote: nothing kept
//	same  both ended in the same state: nothing kept
//	none  local is a deletion or a directory: nothing kept
//	KEEP  local is preserved, then remote applied
//	.     impossible: the change does not apply to this base
var resolveGrid = map[Kind]string{
	Absent: `
	      U    C    K    M    D    FD   DF   FS
	U     =    anc  anc  .    .    .    .    .
	C     KEEP KEEP KEEP .    .    .    .    .
	K     none none none .    .    .    .    .
	M     .    .    .    .    .    .    .    .
	D     .    .    .    .    .    .    .    .
	FD    .    .    .    .    .    .    .    .
	DF    .    .    .    .    .    .    .    .
	FS    .    .    .    .    .    .    .    .`,
	File: `
	      U    C    K    M    D    FD   DF   FS
	U     =    .    .    anc  anc  anc  .    anc
	C     .    .    .    .    .    .    .    .
	K     .    .    .    .    .    .    .    .
	M     KEEP .    .    KEEP KEEP KEEP .    KEEP
	D     none .    .    none same none .    none
	FD    none .    .    none none none .    none
	DF    .    .    .    .    .    .    .    .
	FS    KEEP .    .    KEEP KEEP KEEP .    KEEP`,
	Dir: `
	      U    C    K    M    D    FD   DF   FS
	U     =    .    .    anc  anc  .    anc  .
	C     .    .    .    .    .    .    .    .
	K     .    .    .    .    .    .    .    .
	M     none .    .    none none .    none .
	D     none .    .    none same .    none .
	FD    .    .    .    .    .    .    .    .
	DF    KEEP .    .    KEEP KEEP .    KEEP .
	FS    .    .    .    .    .    .    .    .`,
	Symlink: `
	      U    C    K    M    D    FD   DF   FS
	U     =    .    .    anc  anc  .    .    .
	C     .    .    .    .    .    .    .    .
	K     .    .    .    .    .    .    .    .
	M     KEEP .    .    KEEP KEEP .    .    .
	D     none .    .    none same .    .    .
	FD    .    .    .    .    .    .    .    .
	DF    .    .    .    .    .    .    .    .
	FS    .    .    .    .    .    .    .    .`,
}

var cellDecisions = map[string]Decision{
	"=":    {},
	"anc":  {Winner: Remote, Rule: RuleEpoch, Loser: OutcomeAncestor},
	"same": {Winner: Remote, Rule: RuleEpoch, Loser: OutcomeSameState},
	"none": {Winner: Remote, Rule: RuleEpoch, Loser: OutcomeNoContent},
	"KEEP": {Winner: Remote, Preserve: Local, Rule: RuleEpoch, Loser: OutcomeKept},
}

// parseGrid reads one grid into cells[local][remote], checking its headers.
func parseGrid(t *testing.T, base Kind, grid string) map[change]map[change]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(grid), "\n")
	if len(lines) != len(changes)+1 {
		t.Fatalf("%v grid: %d lines, want %d", base, len(lines), len(changes)+1)
	}
	if hdr := strings.Fields(lines[0]); !slices.Equal(hdr, toStrings(changes)) {
		t.Fatalf("%v grid header %v", base, hdr)
	}
	cells := map[change]map[change]string{}
	for i, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) != len(changes)+1 || change(f[0]) != changes[i] {
			t.Fatalf("%v grid row %d: %q", base, i, line)
		}
		cells[changes[i]] = map[change]string{}
		for j, cell := range f[1:] {
			cells[changes[i]][changes[j]] = cell
		}
	}
	return cells
}

func toStrings(cs []change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

// TestResolveTable runs every cell of the cross product base × local change
// × remote change. A cell is "." exactly when a change does not apply to
// the base, and every other cell names its expected decision: there is no
// default.
func TestResolveTable(t *testing.T) {
	ran := 0
	for _, base := range []Kind{Absent, File, Dir, Symlink} {
		cells := parseGrid(t, base, resolveGrid[base])
		for _, lc := range changes {
			for _, rc := range changes {
				cell := cells[lc][rc]
				name := fmt.Sprintf("%v/%s_vs_%s", base, changeNames[lc], changeNames[rc])
				possible := slices.Contains(changeBases[lc], base) && slices.Contains(changeBases[rc], base)
				if (cell == ".") == possible {
					t.Errorf("%s: cell %q, but possible = %v", name, cell, possible)
					continue
				}
				if !possible {
					continue
				}
				want, ok := cellDecisions[cell]
				if !ok {
					t.Errorf("%s: unknown cell %q", name, cell)
					continue
				}
				t.Run(name, func(t *testing.T) { checkCell(t, base, lc, rc, want) })
				ran++
			}
		}
	}
	// Every pair of changes is possible on some base, or on none.
	for _, lc := range changes {
		for _, rc := range changes {
			common := slices.ContainsFunc(changeBases[lc], func(k Kind) bool { return slices.Contains(changeBases[rc], k) })
			_, impossible := noCommonBase[[2]change{lc, rc}]
			if common == impossible {
				t.Errorf("%s vs %s: has a common base = %v, listed as impossible = %v", lc, rc, common, impossible)
			}
		}
	}
	if ran != 59 {
		t.Errorf("ran %d cells, want 59", ran)
	}
}

// noCommonBase lists the pairs of changes that cannot both happen to one
// path after one divergence point (they need different starting states).
var noCommonBase = func() map[[2]change]bool {
	m := map[[2]change]bool{}
	for _, a := range []change{"C", "K"} {
		for _, b := range []change{"M", "D", "FD", "DF", "FS"} {
			m[[2]change{a, b}], m[[2]change{b, a}] = true, true
		}
	}
	for _, a := range []change{"FD", "FS"} {
		m[[2]change{a, "DF"}], m[[2]change{"DF", a}] = true, true
	}
	return m
}()

func checkCell(t *testing.T, base Kind, lc, rc change, want Decision) {
	b := baseStates[base]
	var baseStamp Stamp
	if base != Absent {
		baseStamp = Stamp{1, "p", 50}
	}
	local := Side{Node: "p", Epoch: 1, Primary: true, State: after(lc, b, 1)}
	remote := Side{Node: "s", Epoch: 2, Primary: true, State: after(rc, b, 2)}
	ls, rs := baseStamp, baseStamp
	if lc != "U" {
		ls = Stamp{1, "p", 103}
	}
	if rc != "U" {
		rs = Stamp{2, "s", 105}
	}
	var err error
	if local.Vector, err = VectorOf(oldP, ls); err != nil {
		t.Fatal(err)
	}
	if remote.Vector, err = VectorOf(newS, rs); err != nil {
		t.Fatal(err)
	}
	want.Order = map[[2]bool]Order{{false, false}: Equal, {true, false}: ANewer, {false, true}: BNewer, {true, true}: Concurrent}[[2]bool{lc != "U", rc != "U"}]
	got := Resolve(local, remote)
	if got != want {
		t.Fatalf("Resolve = %+v (%s)\nwant      %+v (%s)", got, got.Reason(), want, want.Reason())
	}
	if mirrored := Resolve(remote, local); mirrored != want.Mirror() {
		t.Fatalf("Resolve(remote, local) = %+v, want %+v", mirrored, want.Mirror())
	}
}
