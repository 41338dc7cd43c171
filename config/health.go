package config

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Health tunes when a secondary's health check turns it down (see package
// health and health_listen).
type Health struct {
	// MaxLag is how old a change the secondary has not applied may be.
	MaxLag time.Duration `yaml:"max_lag"`
	// MaxDisconnected is how long it may be without its primary.
	MaxDisconnected time.Duration `yaml:"max_disconnected"`
}

// Health defaults.
const (
	DefaultHealthMaxLag          = 10 * time.Second
	DefaultHealthMaxDisconnected = 30 * time.Second
)

var healthFields = map[string]field{
	"max_lag":          func(d *decoder, k string, v *yaml.Node) { d.duration(k, v, &d.c.Health.MaxLag) },
	"max_disconnected": func(d *decoder, k string, v *yaml.Node) { d.duration(k, v, &d.c.Health.MaxDisconnected) },
}

func (d *decoder) health(key string, v *yaml.Node) {
	if isNull(v) {
		return
	}
	if v.Kind != yaml.MappingNode {
		d.at(v.Line, key, "must be a mapping {max_lag: 10s, max_disconnected: 30s}, not %s", describe(v))
		return
	}
	d.mapping(v, key, healthFields)
}

func (c *Config) validateHealth(p *problems) {
	if c.HealthListen != "" {
		if err := checkHostPort(c.HealthListen, true); err != nil {
			p.add("health_listen", "%v", err)
		}
	}
	if c.Health.MaxLag < 0 {
		p.add("health.max_lag", "must be greater than zero, not %v", c.Health.MaxLag)
	}
	if c.Health.MaxDisconnected < 0 {
		p.add("health.max_disconnected", "must be greater than zero, not %v", c.Health.MaxDisconnected)
	}
}
