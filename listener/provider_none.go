package listener

// none verifies nothing. The config loader warns loudly about it.
type none struct {
	eventHeader    string
	deliveryHeader string
}

func newNone(c ProviderConfig) (Provider, error) {
	return &none{eventHeader: c.EventHeader, deliveryHeader: c.DeliveryHeader}, nil
}

func (n *none) Verify(*Request) error      { return nil }
func (n *none) Event(r *Request) string    { return headerOr(r, n.eventHeader) }
func (n *none) Delivery(r *Request) string { return headerOr(r, n.deliveryHeader) }
func (n *none) Sign(s *Signing) error      { setOptional(s, n.eventHeader, n.deliveryHeader); return nil }
