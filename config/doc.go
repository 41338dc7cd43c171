// Package config loads and validates a node's YAML configuration file (one
// per node, see DESIGN.md). Every problem is reported with the file, line
// and key it concerns, and all problems are reported at once.
package config
