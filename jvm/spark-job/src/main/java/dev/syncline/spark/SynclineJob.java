package dev.syncline.spark;

public final class SynclineJob {
  public static void main(String[] args) {}
}
