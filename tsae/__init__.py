"""tsae: anomaly detection in time series with denoising autoencoders."""

__version__ = "0.1.0"
