// Package layout holds no code: its tests guard the shape of the module.
// They check that the layering stays one-way (conflict and chunker import
// nothing of ncsync, only the composition root imports bench, generated
// protobuf types stay at the wire edge, only metrics and the composition
// root import the Prometheus client, and metricstest reads it back in
// tests), that every package says its job in a doc comment, and that code
// and documents speak of ncsync itself rather than of how it was built.
package layout
