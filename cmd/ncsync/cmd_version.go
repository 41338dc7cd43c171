package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/ncsync/ncsync/transport"
)

// version and commit are set at link time by packaging (-ldflags
// "-X main.version=1.2.3 -X main.commit=…"); a plain build reports the
// module version and the commit from the build info instead (where the Go
// toolchain stamped it: -buildvcs).
var version, commit = "", ""

// buildInfo is what 'ncsync version' prints.
type buildInfo struct {
	Version   string
	Commit    string
	Modified  bool
	GoVersion string
}

func readBuildInfo() buildInfo {
	bi := buildInfo{Version: version, Commit: "unknown", GoVersion: "unknown"}
	if commit != "" {
		bi.Commit = commit
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		if bi.Version == "" {
			bi.Version = "unknown"
		}
		return bi
	}
	bi.GoVersion = info.GoVersion
	if bi.Version == "" {
		bi.Version = info.Main.Version
	}
	if bi.Version == "" || bi.Version == "(devel)" {
		bi.Version = "devel"
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if commit == "" {
				bi.Commit = s.Value
			}
		case "vcs.modified":
			bi.Modified = s.Value == "true"
		}
	}
	return bi
}

func (bi buildInfo) write(w io.Writer) {
	commit := bi.Commit
	if bi.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(w, "ncsync %s\ncommit %s\n%s\nreplication protocol %d\n", bi.Version, commit, bi.GoVersion, transport.ProtocolVersion)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the commit it was built from, the Go version and the replication protocol",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			readBuildInfo().write(c.OutOrStdout())
			return nil
		},
	}
}
