from .angle_error_metric import AngleErrorMetric, match_detections

__all__ = ['AngleErrorMetric', 'match_detections']
