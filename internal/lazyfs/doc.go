// Package lazyfs is a FUSE file system for power-loss tests, on the model
// of LazyFS: it serves a real directory (the backing directory) but keeps
// everything that has not been made durable in memory, so that a test can
// cut the power — drop all of it — and look at what a machine would find
// after a reboot.
//
// # What is durable
//
// The model is the one POSIX promises and portable programs must assume
// (fsync(2): "Calling fsync() does not necessarily ensure that the entry in
// the directory containing the file has also reached disk. For that an
// explicit fsync() on a file descriptor for the directory is also
// needed"), stricter than ext4 in its default mode, which also commits
// earlier metadata operations with any fsync:
//
//   - A file's data and size are durable after fsync or fdatasync on any
//     descriptor of it; its mode, owner and times after fsync only.
//     Writes that were not synced are lost whole: the file comes back with
//     the bytes and size of its last sync (empty if never synced).
//   - A name (create, mkdir, symlink, link, unlink, rmdir, rename) is
//     durable after fsync of the directory that holds it. A rename is one
//     journalled operation, as on every journalling file system: an fsync
//     of either its source or its target directory makes it durable as a
//     whole (the name leaves the source and appears in the target).
//     Operations in a directory become durable in the order they were made.
//   - A directory's own mode, owner and times are durable after fsync of
//     the directory.
//   - A file or directory whose name is not durable is gone after a cut,
//     whatever was synced of its contents; a durable name whose file was
//     never synced comes back as an empty file.
//   - syncfs(2) and sync(2) make nothing durable: the kernel never passes
//     them to a FUSE server (only virtiofs gets FUSE_SYNCFS). This is what
//     a program meets on a GlusterFS native mount, s3fs or sshfs.
//
// A clean Unmount makes everything durable (an orderly shutdown syncs).
//
// While mounted, the whole tree lives in memory: the backing directory is
// read at Mount and written back, as the durable state, by Cut and
// Unmount. It is meant for test trees of a few hundred MiB at most.
package lazyfs
