package bench

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// findSyncthing returns the syncthing binary, or why it cannot run.
func findSyncthing() (string, error) {
	p, err := exec.LookPath("syncthing")
	if err != nil {
		return "", errors.New("syncthing not installed (tools/install-bench-peers.sh installs it)")
	}
	return p, nil
}

// syncthingReplica is two Syncthing instances: a send-only folder on the
// source, a receive-only one on the target, each dialing the other through
// a counting proxy. Discovery, relays, NAT traversal, usage reports,
// upgrades and the GUI are off; everything else keeps Syncthing's defaults
// except fsWatcherDelayS (delay) and setLowPriority (off, so that it
// competes for the CPU on the same terms as the other tools).
type syncthingReplica struct {
	bin     string
	delay   int    // fsWatcherDelayS; 0 for Syncthing's default (10)
	keysDir string // cached keys of both instances (device IDs)
	tn      *targetNet

	source, target *stInstance
	toTarget       *Proxy // the source dials the target through it
	toSource       *Proxy // the target dials the source through it
}

// stInstance is one running Syncthing.
type stInstance struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	out  *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for the writer (the child's output
// copier) and readers (error messages).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 { // keep the tail only
		s.b.Next(s.b.Len() / 2)
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// syncthingSkip leaves out Syncthing's folder marker and temporary files.
func syncthingSkip(name string) bool {
	return name == ".stfolder" || name == ".stversions" ||
		(strings.HasPrefix(name, ".syncthing.") && strings.HasSuffix(name, ".tmp")) ||
		strings.HasPrefix(name, "~syncthing~")
}

// syncthingKeys returns the home with cert.pem and key.pem of instance
// name (generated once, then reused) and its device ID.
func syncthingKeys(ctx context.Context, bin, keysDir, name string) (string, string, error) {
	home := filepath.Join(keysDir, name)
	if _, err := os.Stat(filepath.Join(home, "cert.pem")); err != nil {
		if out, err := exec.CommandContext(ctx, bin, "generate", "--home="+home, "--no-default-folder").CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("syncthing generate: %w: %s", err, lastLines(string(out), 3))
		}
	}
	out, err := exec.CommandContext(ctx, bin, "serve", "--home="+home, "--device-id").Output()
	if err != nil {
		return "", "", fmt.Errorf("syncthing device id: %w", err)
	}
	return home, strings.TrimSpace(string(out)), nil
}

func (s *syncthingReplica) start(ctx context.Context, src, dst, dir string) error {
	keySrc, idSrc, err := syncthingKeys(ctx, s.bin, s.keysDir, "source")
	if err != nil {
		return err
	}
	keyDst, idDst, err := syncthingKeys(ctx, s.bin, s.keysDir, "target")
	if err != nil {
		return err
	}
	portSrc, err := freePort()
	if err != nil {
		return err
	}
	portDst, err := freePort()
	if err != nil {
		return err
	}
	listenSrc := fmt.Sprintf("%s:%d", s.tn.hostIP(), portSrc)
	listenDst := fmt.Sprintf("%s:%d", s.tn.targetIP(), portDst)
	if s.toSource, err = StartProxyOn(s.tn.hostIP(), listenSrc); err != nil {
		return err
	}
	if s.toTarget, err = StartProxy(listenDst); err != nil {
		return err
	}
	delay := s.delay
	if delay == 0 {
		delay = 10
	}
	type side struct {
		name, keys, home, folder, kind, listen, selfID, peerID, peerAddr string
		tn                                                               *targetNet
	}
	sides := []side{
		{"source", keySrc, filepath.Join(dir, "st-source"), src, "sendonly", listenSrc, idSrc, idDst, s.toTarget.Addr(), nil},
		{"target", keyDst, filepath.Join(dir, "st-target"), dst, "receiveonly", listenDst, idDst, idSrc, s.toSource.Addr(), s.tn},
	}
	for _, sd := range sides {
		if err := os.MkdirAll(sd.home, 0o700); err != nil {
			return err
		}
		for _, f := range []string{"cert.pem", "key.pem"} {
			b, err := os.ReadFile(filepath.Join(sd.keys, f))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(sd.home, f), b, 0o600); err != nil {
				return err
			}
		}
		conf := syncthingConfig(sd.selfID, sd.name, sd.peerID, sd.peerAddr, sd.listen, sd.folder, sd.kind, delay)
		if err := os.WriteFile(filepath.Join(sd.home, "config.xml"), []byte(conf), 0o600); err != nil {
			return err
		}
		inst := &stInstance{name: "syncthing " + sd.name, log: filepath.Join(dir, "syncthing-"+sd.name+".log"),
			done: make(chan struct{}), out: &syncBuffer{}}
		inst.cmd = sd.tn.command(s.bin, "serve", "--home="+sd.home, "--no-browser", "--no-restart",
			"--no-upgrade", "--logfile="+inst.log, "--log-max-old-files=0")
		inst.cmd.Env = append(os.Environ(), "STNOUPGRADE=1", "STNORESTART=1", "STNODEFAULTFOLDER=1")
		inst.cmd.Stdout, inst.cmd.Stderr = inst.out, inst.out
		if err := inst.cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", inst.name, err)
		}
		go func() { // joined through inst.done in stop
			inst.cmd.Wait()
			close(inst.done)
		}()
		if sd.name == "source" {
			s.source = inst
		} else {
			s.target = inst
		}
	}
	return nil
}

// syncthingConfig is one instance's config.xml.
func syncthingConfig(selfID, selfName, peerID, peerAddr, listen, folder, kind string, delay int) string {
	return fmt.Sprintf(`<configuration version="36">
    <folder id="bench" label="bench" path="%s" type="%s" rescanIntervalS="3600" fsWatcherEnabled="true" fsWatcherDelayS="%d" ignorePerms="false" autoNormalize="true">
        <filesystemType>basic</filesystemType>
        <device id="%s" introducedBy=""></device>
        <device id="%s" introducedBy=""></device>
    </folder>
    <device id="%s" name="%s" compression="metadata" introducer="false">
        <address>dynamic</address>
    </device>
    <device id="%s" name="peer" compression="metadata" introducer="false">
        <address>tcp://%s</address>
    </device>
    <gui enabled="false" tls="false">
        <address>127.0.0.1:0</address>
    </gui>
    <options>
        <listenAddress>tcp://%s</listenAddress>
        <globalAnnounceEnabled>false</globalAnnounceEnabled>
        <localAnnounceEnabled>false</localAnnounceEnabled>
        <relaysEnabled>false</relaysEnabled>
        <natEnabled>false</natEnabled>
        <startBrowser>false</startBrowser>
        <urAccepted>-1</urAccepted>
        <autoUpgradeIntervalH>0</autoUpgradeIntervalH>
        <crashReportingEnabled>false</crashReportingEnabled>
        <setLowPriority>false</setLowPriority>
        <reconnectionIntervalS>1</reconnectionIntervalS>
    </options>
</configuration>
`, xmlEscape(folder), kind, delay, selfID, peerID, selfID, selfName, peerID, peerAddr, listen)
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (s *syncthingReplica) sync(context.Context) error { return nil }

func (s *syncthingReplica) procs() (source, target []int) {
	if s.source != nil && s.source.cmd.Process != nil {
		source = []int{s.source.cmd.Process.Pid}
	}
	if s.target != nil && s.target.cmd.Process != nil {
		target = []int{s.target.cmd.Process.Pid}
	}
	return source, target
}

func (s *syncthingReplica) extraCPU() (source, target time.Duration) { return 0, 0 }

func (s *syncthingReplica) wire() (toTarget, toSource int64) {
	// Both instances dial: data to the target flows down the source's
	// connection through toTarget and up the target's through toSource.
	a, b := s.toTarget.Bytes()
	c, d := s.toSource.Bytes()
	return a + d, b + c
}

func (s *syncthingReplica) alive() error {
	for _, in := range []*stInstance{s.source, s.target} {
		select {
		case <-in.done:
			return fmt.Errorf("%s exited: %s; see %q", in.name, oneLine(lastLines(in.out.String(), 3)), in.log)
		default:
		}
	}
	return nil
}

// compare leaves out directory mtimes: Syncthing does not replicate them.
func (s *syncthingReplica) compare() compareOptions {
	return compareOptions{skip: syncthingSkip, noDirMtime: true}
}

func (s *syncthingReplica) note() string {
	d := "its default watcher delay (fsWatcherDelayS 10)"
	if s.delay > 0 {
		d = fmt.Sprintf("fsWatcherDelayS = %d", s.delay)
	}
	return fmt.Sprintf("syncthing: send-only folder → receive-only folder, %s; discovery, relays, NAT, GUI off, setLowPriority off; its targets are compared without directory mtimes (Syncthing does not replicate them) and without its .stfolder marker", d)
}

func (s *syncthingReplica) stop() {
	for _, in := range []*stInstance{s.target, s.source} {
		if in == nil || in.cmd.Process == nil {
			continue
		}
		in.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-in.done:
		case <-time.After(10 * time.Second):
			in.cmd.Process.Kill()
			<-in.done
		}
	}
	for _, p := range []*Proxy{s.toTarget, s.toSource} {
		if p != nil {
			p.Close()
		}
	}
}
