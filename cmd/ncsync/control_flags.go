package main

import (
	"github.com/spf13/cobra"

	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/control"
)

// controlFlags are the flags every control command shares: where the
// daemon's socket is.
type controlFlags struct {
	ConfigPath string
	Socket     string
}

func (f *controlFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.ConfigPath, "config", defaultConfig, "config file of the local daemon (for control_socket)")
	cmd.Flags().StringVar(&f.Socket, "socket", "", "control socket path (overrides --config)")
}

// dial connects to the local daemon's control socket.
func (f *controlFlags) dial() (*control.Client, error) {
	path := f.Socket
	if path == "" {
		cfg, err := config.Load(f.ConfigPath)
		if err != nil {
			return nil, err
		}
		path = cfg.ControlSocket
	}
	return control.Dial(path)
}
