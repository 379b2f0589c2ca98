// Package privsep splits VNet on Linux into a small root helper, which
// creates the TUN device and changes the OS's addresses, routes, rules and
// DNS, and the engine, which runs as the user and holds the user's key:
// the helper hands the device's descriptor to the engine over a Unix
// socket whose peer it checks with SO_PEERCRED, applies the settings the
// engine asks for (checked), and undoes everything when the engine goes,
// when it is stopped, or at the next start after a crash (a state file
// lists what it changed).
package privsep
