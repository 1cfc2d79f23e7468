//go:build unix

package main

import "syscall"

// restrictUmask makes every file the server creates owner-only. SQLite
// creates the -wal and -shm files beside the database with the process's
// umask (0644 under the usual 022), and they hold recent events; a chmod
// after the fact leaves a window, and after a kill -9 they stay readable.
// Nothing the server writes is meant for other users.
func restrictUmask() { syscall.Umask(0o077) }
