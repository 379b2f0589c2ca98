//go:build !linux

package platform

// NewConfigurator returns ErrUnsupported: outside Linux the OS is configured
// elsewhere (on macOS by the Network Extension from the same settings).
func NewConfigurator(cfg Config) (*Configurator, error) {
	return nil, ErrUnsupported
}
