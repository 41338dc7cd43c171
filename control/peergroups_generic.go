//go:build linux && (amd64 || arm64 || 386 || arm || riscv64 || ppc64 || ppc64le || s390x || loong64)

package control

// soPeerGroups is SO_PEERGROUPS on the architectures that use the generic
// socket option numbers (asm-generic/socket.h); golang.org/x/sys/unix does
// not define it.
const soPeerGroups = 59
