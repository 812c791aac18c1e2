"""Scripts and server templates: immutable numbered versions, typed inputs resolved by level at launch, and boot
scripts rendered into cloud-init user data."""
