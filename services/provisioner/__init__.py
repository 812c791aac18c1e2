"""The provisioner: owns cloud accounts, their adapters and the instance records; drives instances through their
lifecycle in the clouds and reports every step as an event."""
