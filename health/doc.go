// Package health answers whether this node should serve users, for the load
// balancer in front of the Nextcloud app servers. One TCP port speaks both
// HTTP (GET /health: 200 or 503 with a one-line reason) and HAProxy's
// agent-check protocol (a line "up", "drain" or "down", with the reason
// after '#').
//
// A secondary is down while it catches up (it has not applied everything
// the primary had when it connected), while it has been disconnected for
// longer than MaxDisconnected, while its lag is over MaxLag, or while a
// folder refuses entries; it is drain while paused for a snapshot (it holds
// an old, consistent state). A primary is up unless a folder fails.
package health
