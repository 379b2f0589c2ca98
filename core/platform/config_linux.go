package platform

// NewConfigurator returns a Configurator for the device cfg.TunName. It
// changes nothing until Apply.
func NewConfigurator(cfg Config) (*Configurator, error) {
	return newConfigurator(cfg, netlinkOps{table: cfg.RouteTable})
}
