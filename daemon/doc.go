// Package daemon is hearthd: it reads the config, opens the store, builds
// the hub, serves the local API and metrics, and runs the process's
// lifecycle (signals, config reload, systemd notification and watchdog).
// Every other package of Hearth is wired together here and nowhere else.
package daemon
