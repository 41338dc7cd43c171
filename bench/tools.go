package bench

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// tools returns the selected tools in AllTools order.
func (h *harness) tools() []string {
	var out []string
	for _, t := range AllTools {
		if slices.Contains(h.o.Tools, t) {
			out = append(out, t)
		}
	}
	return out
}

// findTools records, for each selected tool, why it cannot run here (not
// installed), and the binaries of those that can.
func (h *harness) findTools() {
	h.missing = make(map[string]string)
	for _, t := range h.tools() {
		switch t {
		case ToolRsync:
			if h.rsErr != nil {
				h.missing[t] = h.rsErr.Error()
			}
		case ToolLsyncd, ToolLsyncd1s:
			p, err := findLsyncd()
			switch {
			case err != nil:
				h.missing[t] = err.Error()
			case h.rsErr != nil:
				h.missing[t] = "lsyncd needs " + h.rsErr.Error()
			}
			h.lsyncd = p
		case ToolSyncthing, ToolSyncthing1s:
			p, err := findSyncthing()
			if err != nil {
				h.missing[t] = err.Error()
			}
			h.syncthing = p
		}
	}
}

// peerVersions records the version of each peer binary found, and the CPU.
func (h *harness) peerVersions() {
	h.report.Peers = make(map[string]string)
	for name, args := range map[string][]string{
		"rsync": {h.rsync.rsync, "--version"}, "lsyncd": {h.lsyncd, "--version"}, "syncthing": {h.syncthing, "--version"},
	} {
		if args[0] == "" {
			continue
		}
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil && len(out) == 0 {
			continue
		}
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		h.report.Peers[name] = strings.Join(strings.Fields(line), " ")
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				h.report.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
}

// unavailable says why tool cannot run here, or "".
func (h *harness) unavailable(tool string) string { return h.missing[tool] }

// newReplica sets up tool for a suite.
func (h *harness) newReplica(tool string) replica {
	switch tool {
	case ToolRsync:
		return &rsyncReplica{bin: h.rsync.rsync, tn: h.tn}
	case ToolLsyncd:
		return &lsyncdReplica{bin: h.lsyncd, rsync: h.rsync.rsync, tn: h.tn}
	case ToolLsyncd1s:
		return &lsyncdReplica{bin: h.lsyncd, rsync: h.rsync.rsync, delay: 1, tn: h.tn}
	case ToolSyncthing:
		return &syncthingReplica{bin: h.syncthing, tn: h.tn, keysDir: filepath.Join(h.o.Dir, "syncthing-keys")}
	case ToolSyncthing1s:
		return &syncthingReplica{bin: h.syncthing, delay: 1, tn: h.tn, keysDir: filepath.Join(h.o.Dir, "syncthing-keys")}
	}
	return &ncsyncReplica{run: h.ncsync, tn: h.tn}
}

// addNote adds a line to the report's notes once.
func (h *harness) addNote(n string) {
	if n != "" && !slices.Contains(h.report.Notes, n) {
		h.report.Notes = append(h.report.Notes, n)
	}
}
