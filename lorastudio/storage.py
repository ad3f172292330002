"""Storage backends whose URLs are short-lived signed links to our own media view.

Files are never public, whatever the backend: `file.url` gives a link that expires after
MEDIA_URL_TTL seconds, and the media view reads the file back through the same storage.
"""

from functools import cached_property

import boto3
from botocore.config import Config
from django.conf import settings
from django.core.files.storage import FileSystemStorage
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

from .media import signed_media_url


class PrivateFileSystemStorage(FileSystemStorage):
    def url(self, name):
        return signed_media_url(name)


class PrivateS3Storage(S3Storage):
    default_acl = "private"
    file_overwrite = False

    def url(self, name, parameters=None, expire=None, http_method=None):
        return signed_media_url(name, ttl=expire)

    def presigned_url(self, name: str, *, expire: int) -> str:
        """The object's own GET URL, signed for `expire` seconds, for the media view to
        redirect to (the bytes then never pass through the web tier). Signed for
        S3_PUBLIC_ENDPOINT_URL when set: MinIO behind the compose nginx, whose internal name
        a browser cannot reach."""
        return self._public_client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket_name, "Key": self._normalize_name(clean_name(name))},
            ExpiresIn=expire,
        )

    @cached_property
    def _public_client(self):
        public = settings.S3_PUBLIC_ENDPOINT_URL
        if not public:
            return self.connection.meta.client
        return boto3.session.Session().client(
            "s3",
            endpoint_url=public,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region_name,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
