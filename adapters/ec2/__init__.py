"""AWS EC2 (aioboto3): the whole contract, CloudWatch for metrics, client-side throttling after EC2's own limits."""

from adapters.ec2.adapter import Ec2Adapter
from adapters.ec2.config import BucketConfig, Ec2Config, ThrottleConfig

__all__ = ["BucketConfig", "Ec2Adapter", "Ec2Config", "ThrottleConfig"]
