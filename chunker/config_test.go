package chunker

import (
	"errors"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		field string // "" if valid; else the field the error must name
	}{
		{"default", DefaultConfig(), ""},
		{"small", smallConfig, ""},
		{"tiny", tinyConfig, ""},
		{"odd min and max", oddConfig, ""},
		{"largest", Config{Min: 1 << 20, Avg: 8 << 20, Max: MaxLimit}, ""},
		{"zero", Config{}, "Min"},
		{"min too small", Config{Min: 63, Avg: 256, Max: 1024}, "Min"},
		{"negative min", Config{Min: -1, Avg: 256, Max: 1024}, "Min"},
		{"avg equals min", Config{Min: 256, Avg: 256, Max: 1024}, "Avg"},
		{"avg below min", Config{Min: 512, Avg: 256, Max: 1024}, "Avg"},
		{"avg not power of two", Config{Min: 64, Avg: 300, Max: 1024}, "Avg"},
		{"max equals avg", Config{Min: 64, Avg: 256, Max: 256}, "Max"},
		{"max below avg", Config{Min: 64, Avg: 256, Max: 100}, "Max"},
		{"max too large", Config{Min: 1 << 20, Avg: 8 << 20, Max: MaxLimit + 1}, "Max"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", tt.cfg, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%+v) = nil, want error naming %s", tt.cfg, tt.field)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %q does not wrap ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), ": "+tt.field+" ") {
				t.Errorf("error %q does not name field %s", err, tt.field)
			}
			if _, err := New(nil, tt.cfg); err == nil {
				t.Errorf("New accepted invalid config %+v", tt.cfg)
			}
		})
	}
}
