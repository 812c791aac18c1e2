"""A refresh token used with a renewal key keeps, for a short while, the successor it was traded for: the same
renewal, asked again with the same key (a second gateway replica renewing the same console session at once), answers
that successor instead of ending the login.
"""

from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE refresh_tokens
            -- The SHA-256 of the renewal key the token was used with (a random secret, like the token itself).
            ADD COLUMN renewal_key_hash text CHECK (renewal_key_hash ~ '^[0-9a-f]{64}$'),
            -- Its successor, sealed with the gateway's keyring and bound to this row; cleared once the grace ends.
            ADD COLUMN successor bytea
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE refresh_tokens DROP COLUMN renewal_key_hash, DROP COLUMN successor")
