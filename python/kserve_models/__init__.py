"""Replicas of the platform's two KServe models, served by the real `kserve` model server.

The platform deploys two InferenceServices on the stock sklearn server:
``anomaly-detector`` (RobustScaler + IsolationForest, contamination 0.05, 200
trees, over the 45-feature vector; predicts -1 anomaly / 1 normal) and
``predictive-analytics`` (5 inputs -> the 5 forecast). These replicas are
trained at start-up on generated data with a fixed seed and served with
``kserve.ModelServer`` on the V1 and V2 (Open Inference) protocols.
"""
