//go:build !(linux && (amd64 || arm64 || 386 || arm || riscv64 || ppc64 || ppc64le || s390x || loong64))

package control

// soPeerGroups is unknown here: supplementary groups come from the user
// database.
const soPeerGroups = -1
