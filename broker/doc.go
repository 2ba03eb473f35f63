// Package broker runs Hearth's embedded MQTT broker: a mochi-mqtt server
// whose features are each a mochi hook.
//
//   - Auth: no anonymous access; passwords are checked with bcrypt against
//     Users, and failed logins are counted and rate-limited per remote
//     address and per user name.
//   - ACL: per user topic filters with read and/or write, on top of the
//     defaults of the user's role (device, integration, admin), checked on
//     every subscribe and publish.
//   - Bridge: the hub's entities are published retained to
//     hearth/<kind>/<name>/state, commands on hearth/<kind>/<name>/set go
//     through the hub's command path as principal mqtt:<user>, and
//     hearth/status carries the hub's online/offline status.
//   - Listeners: plain TCP, TLS (optionally with client certificates) and
//     websockets, all behind the same password login; a packet size limit,
//     a deadline for the CONNECT, and a guard hook for packets mochi would
//     otherwise accept from the wrong protocol version.
package broker
