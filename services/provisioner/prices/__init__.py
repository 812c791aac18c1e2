"""Price catalogs: what each cloud account charges, by region and flavor, versioned by the date each takes effect."""
