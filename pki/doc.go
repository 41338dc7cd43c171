// Package pki manages an ncsync cluster's certificate authority and peer
// certificates, and builds the mutually authenticated TLS 1.3 configurations
// the transport uses. Peers are identified by a URI SAN
// ncsync://<cluster>/<role>/<node> in a certificate signed by the cluster CA,
// never by host name, so a peer can be reached by any address.
package pki
