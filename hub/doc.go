// Package hub is Hearth's core model: entities and their typed attributes,
// the registry that holds their current state, the event bus every change
// travels on, and command dispatch, which validates and authorises each
// command before it reaches the entity's owner.
//
// The package imports nothing of Hearth's; everything else imports it.
package hub
