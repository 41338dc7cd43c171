package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestCertsRevoke(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := runCertsInit(certsInitOptions{Dir: dir}, &out); err != nil {
		t.Fatal(err)
	}
	if err := runCertsIssue(certsIssueOptions{Dir: dir, Node: "nfs1", Role: "primary"}, &out); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runCertsRevoke(certsRevokeOptions{Dir: dir, Node: "nfs1"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `revoked the certificate of node "nfs1"`) || !strings.Contains(out.String(), dir+"/crl.pem") {
		t.Errorf("revoke said %q", out.String())
	}
	out.Reset()
	if err := runCertsRevoke(certsRevokeOptions{Dir: dir, Serial: "0x2a"}, &out); err != nil || !strings.Contains(out.String(), "serial 42") {
		t.Errorf("revoke --serial 0x2a: %v, %q", err, out.String())
	}
	out.Reset()
	if err := runCertsRevoke(certsRevokeOptions{Dir: dir, Serial: "42"}, &out); err != nil || !strings.Contains(out.String(), "already revoked") {
		t.Errorf("revoke --serial 42 again: %v, %q", err, out.String())
	}
	for _, o := range []certsRevokeOptions{{Dir: dir}, {Dir: dir, Node: "nfs1", Serial: "1"}, {Dir: dir, Serial: "x"}} {
		var ee *exitError
		if err := runCertsRevoke(o, &out); !errors.As(err, &ee) || ee.code != exitUsage {
			t.Errorf("revoke %+v: %v, want a usage error", o, err)
		}
	}
}
