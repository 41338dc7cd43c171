package config

import (
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/ncsync/ncsync/pki"
)

// Promote is the `promote` section of a secondary's config: what the node
// does once `ncsync promote` has made it the primary of a new epoch, without
// a restart. A secondary certificate can never act as a primary, so the
// section names a primary certificate issued for this node in advance
// (ncsync certs issue --node NODE --role primary).
type Promote struct {
	// Listen is where the new primary's secondaries connect (listen).
	Listen string
	// Secondaries are the nodes it serves (secondaries); the old primary
	// rejoins as one of them, so list it too.
	Secondaries []string
	// TLS is the primary certificate and key (tls.cert, tls.key); tls.ca
	// defaults to the top-level tls.ca.
	TLS TLS
}

var promoteFields = map[string]field{
	"listen":      func(d *decoder, k string, v *yaml.Node) { d.str(k, v, &d.c.Promote.Listen) },
	"secondaries": func(d *decoder, k string, v *yaml.Node) { d.strList(k, v, &d.c.Promote.Secondaries) },
	"tls": func(d *decoder, k string, v *yaml.Node) {
		d.tls(k, v, &d.c.Promote.TLS, "{cert: FILE, key: FILE}")
	},
}

func (d *decoder) promote(key string, v *yaml.Node) {
	if isNull(v) {
		return
	}
	if v.Kind != yaml.MappingNode {
		d.at(v.Line, key, "must be a mapping {listen: HOST:PORT, secondaries: [NODE...], tls: {cert: FILE, key: FILE}}, not %s", describe(v))
		return
	}
	d.c.Promote = &Promote{}
	d.mapping(v, key, promoteFields)
}

// validatePromote checks the promote section: secondaries only, with a
// listen address, valid peer names and a certificate.
func (c *Config) validatePromote(p *problems) {
	pr := c.Promote
	if pr == nil {
		return
	}
	if c.Role != pki.RoleSecondary {
		p.add("promote", "only a secondary can be promoted: remove it, or set role: secondary")
		return
	}
	if pr.Listen == "" {
		p.at(p.pos["promote"], "promote.listen", "required: where secondaries connect once this node is promoted, e.g. listen: 0.0.0.0:7300")
	} else if err := checkHostPort(pr.Listen, true); err != nil {
		p.add("promote.listen", "%v", err)
	}
	c.validateNodeList(p, "promote.secondaries", pr.Secondaries, "secondary")
	for _, f := range []struct {
		key, val string
		required bool
	}{{"promote.tls.ca", pr.TLS.CA, false}, {"promote.tls.cert", pr.TLS.Cert, true}, {"promote.tls.key", pr.TLS.Key, true}, {"promote.tls.crl", pr.TLS.CRL, false}} {
		switch {
		case f.val == "" && f.required:
			line := p.pos[f.key]
			if line == 0 {
				line = p.pos["promote"]
			}
			p.at(line, f.key, "required: the primary certificate of this node (ncsync certs issue --node %s --role primary)", c.Node)
		case f.val != "" && !filepath.IsAbs(f.val):
			p.add(f.key, "%q must be an absolute path", f.val)
		}
	}
}

// PromotedTLS returns the TLS files the node uses once promoted: the
// promote section's certificate and key, with the cluster CA of tls.ca
// and the revocation list of tls.crl unless the section names others.
func (c *Config) PromotedTLS() TLS {
	if c.Promote == nil {
		return TLS{}
	}
	t := c.Promote.TLS
	if t.CA == "" {
		t.CA = c.TLS.CA
	}
	if t.CRL == "" {
		t.CRL = c.TLS.CRL
	}
	return t
}
