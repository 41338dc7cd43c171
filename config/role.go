package config

import "fmt"

// Role is a node's role in the cluster. The zero value is "not set".
type Role uint8

// Roles.
const (
	RolePrimary Role = iota + 1
	RoleSecondary
)

func (r Role) String() string {
	switch r {
	case RolePrimary:
		return "primary"
	case RoleSecondary:
		return "secondary"
	case 0:
		return "unset"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// MarshalText returns "primary" or "secondary".
func (r Role) MarshalText() ([]byte, error) {
	if r != RolePrimary && r != RoleSecondary {
		return nil, fmt.Errorf("invalid role %d", uint8(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText accepts "primary" or "secondary".
func (r *Role) UnmarshalText(text []byte) error {
	switch string(text) {
	case "primary":
		*r = RolePrimary
	case "secondary":
		*r = RoleSecondary
	default:
		return fmt.Errorf("invalid role %q: want primary or secondary", text)
	}
	return nil
}
