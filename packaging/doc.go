// Package packaging holds no code: its tests hold what the repository
// ships for installing VNet (the systemd units, the sample configs and
// `make install`) to what the code accepts.
package packaging
